// SipHash-2-4 against the reference vectors of the SipHash paper (key 00..0f, messages 00..n-1).
import { describe, expect, it } from 'vitest';
import { sipHash24, sipKey, sipOut } from '../../../src/crypto/siphash.js';

const KEY = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
const msg = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
const hex = () => sipOut[1].toString(16).padStart(8, '0') + sipOut[0].toString(16).padStart(8, '0');

describe('SipHash-2-4', () => {
  it("matches the reference vectors (empty, one word, the paper's 15-byte example, 63 bytes)", () => {
    sipHash24(KEY, msg(0), 0, 0);
    expect(hex()).toBe('726fdb47dd0e0e31');
    sipHash24(KEY, msg(8), 0, 8);
    expect(hex()).toBe('93f5f5799a932462');
    expect(sipHash24(KEY, msg(15), 0, 15)).toBe(0xa129ca61);
    expect(hex()).toBe('a129ca6149be45e5');
    sipHash24(KEY, msg(63), 0, 63);
    expect(hex()).toBe('958a324ceb064572');
  });

  it('hashes a range of a larger buffer', () => {
    const b = new Uint8Array(20);
    b.set(msg(15), 3);
    sipHash24(KEY, b, 3, 15);
    expect(hex()).toBe('a129ca6149be45e5');
  });
});
