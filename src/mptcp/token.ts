// The token table of one MPTCP endpoint (RFC 8684 section 2.2, 3.1): every connection is known by
// the 32-bit token derived from its local key, which MP_JOIN SYNs name. Tokens must be unique
// within the endpoint, so a key whose token is taken is drawn again.

import type { Idsn } from '../crypto/keys.js';
import { keyDerive, randomKey } from '../crypto/keys.js';

export interface LocalKey {
  key: Uint8Array;
  token: number;
  idsn: Idsn;
}

export class TokenTable<T> {
  private readonly byToken = new Map<number, T>();
  /** Keys drawn again because their token was taken (a Linux MIB has no name for it). */
  collisions = 0;

  constructor(private readonly draw: () => Uint8Array = randomKey) {}

  get size(): number {
    return this.byToken.size;
  }

  /**
   * Draws a key whose token is free and reserves the token for `owner`. Gives up (throws: it
   * would take a table of billions) after `tries` collisions in a row.
   */
  allocate(owner: T, tries = 16): LocalKey {
    for (let i = 0; i < tries; i++) {
      const key = this.draw();
      const { token, idsn } = keyDerive(key);
      if (this.byToken.has(token)) {
        this.collisions++;
        continue;
      }
      this.byToken.set(token, owner);
      return { key, token, idsn };
    }
    throw new Error(`no free MPTCP token after ${tries} draws (${this.byToken.size} in use)`);
  }

  /**
   * Reserves the token of a key chosen elsewhere (the server side learns the client's key, but
   * registers its own): false when taken.
   */
  register(token: number, owner: T): boolean {
    if (this.byToken.has(token)) return false;
    this.byToken.set(token, owner);
    return true;
  }

  /** Sets the owner of a token allocated before its owner existed. */
  set(token: number, owner: T): void {
    this.byToken.set(token, owner);
  }

  lookup(token: number): T | undefined {
    return this.byToken.get(token);
  }

  release(token: number): void {
    this.byToken.delete(token);
  }
}
