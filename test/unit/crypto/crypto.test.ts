// MPTCP crypto against known vectors: the Linux kernel's own HMAC test vectors
// (net/mptcp/crypto_test.c) and token/IDSN/HMAC values computed independently with Python's
// hashlib and hmac modules.
import { describe, expect, it } from 'vitest';
import {
  addAddrHmac,
  hmacEqual,
  joinAckHmac,
  joinHmac,
  joinSynAckHmac,
  keyDerive,
  keyIdsn,
  keyToken,
  mptcpHmac,
  randomKey,
} from '../../../src/crypto/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('key derivations (RFC 8684 section 3.1)', () => {
  it('token is the top 32 bits and IDSN the low 64 bits of SHA-256(key)', () => {
    expect(keyToken(hex('0102030405060708'))).toBe(0x66840dda);
    expect(keyIdsn(hex('0102030405060708'))).toEqual({ high: 0xf5a101d3, low: 0xd29d6f72 });
    expect(keyToken(hex('a7c4e1b2d3f40516'))).toBe(0x4fe6c559);
    expect(keyIdsn(hex('a7c4e1b2d3f40516'))).toEqual({ high: 0x0abf10e2, low: 0xe68e5939 });
    expect(keyDerive(hex('a7c4e1b2d3f40516'))).toEqual({
      token: 0x4fe6c559,
      idsn: { high: 0x0abf10e2, low: 0xe68e5939 },
    });
  });

  it('rejects keys that are not 8 bytes (a programmer error)', () => {
    expect(() => keyToken(new Uint8Array(7))).toThrow(RangeError);
  });

  it('draws random 8-byte keys', () => {
    const a = randomKey();
    const b = randomKey();
    expect(a.length).toBe(8);
    expect(toHex(a)).not.toBe(toHex(b));
  });
});

describe('HMAC-SHA256 (RFC 8684 sections 3.2, 3.4.1)', () => {
  // Linux net/mptcp/crypto_test.c: the key and message strings are used as raw ASCII bytes.
  const linuxVectors = [
    ['0b0b0b0b0b0b0b0b', '48692054', '8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa'],
    ['aaaaaaaaaaaaaaaa', 'dddddddd', '2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9'],
    ['0102030405060708', 'cdcdcdcd', 'e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d'],
  ];
  it.each(linuxVectors)('matches the Linux kernel vector key=%s msg=%s', (key, msg, result) => {
    const k = ascii(key);
    expect(toHex(mptcpHmac(k.subarray(0, 8), k.subarray(8, 16), ascii(msg)))).toBe(result);
  });

  const keyA = hex('0102030405060708');
  const keyB = hex('1112131415161718');
  const fullA = '30c1a5ea36b2e7caab14963ad21bbf91a348b473258f07591e4375a41a9d1c6a';

  it('MP_JOIN: key and nonce of the sender first; 64 bits in the SYN/ACK, 160 in the third ACK', () => {
    expect(toHex(joinHmac(keyA, keyB, 0x01020304, 0xa0b0c0d0))).toBe(fullA);
    expect(toHex(joinAckHmac(keyA, keyB, 0x01020304, 0xa0b0c0d0))).toBe(fullA.slice(0, 40));
    expect(toHex(joinSynAckHmac(keyA, keyB, 0x01020304, 0xa0b0c0d0))).toBe(fullA.slice(0, 16));
    // Swapping the roles gives a different HMAC: the order matters.
    expect(toHex(joinHmac(keyB, keyA, 0xa0b0c0d0, 0x01020304))).not.toBe(fullA);
  });

  it('ADD_ADDR: rightmost 64 bits over ID, address and port (zero when absent)', () => {
    expect(toHex(addAddrHmac(keyA, keyB, 5, hex('c6120201')))).toBe('91aeec9f27cd2648');
    expect(toHex(addAddrHmac(keyA, keyB, 5, hex('c6120201'), 8080))).toBe('d620a8ae2938022d');
    expect(toHex(addAddrHmac(keyA, keyB, 7, hex('20010db8000000000000000000000001'), 443))).toBe(
      '6cbae5a64ac0daa1',
    );
  });

  it('compares HMACs by content and length', () => {
    expect(hmacEqual(hex('0102'), hex('0102'))).toBe(true);
    expect(hmacEqual(hex('0102'), hex('0103'))).toBe(false);
    expect(hmacEqual(hex('0102'), hex('010200'))).toBe(false);
  });
});
