// Link-layer (hardware) addresses as the CPE's wire formats carry them: text ("02:00:5e:10:00:01",
// colons or dashes) to bytes and back. Used by the DHCP messages (chaddr, up to 16 bytes) and the
// router advertisements (the source link-layer address option, a 6-byte MAC).

/** The bytes of a hardware address in text; throws a TypeError when `text` is not one (config, not network input). */
export function hwAddrBytes(text: string): Buffer {
  const hex = text.replace(/[:-]/g, '');
  if (!/^([0-9a-fA-F]{2}){0,16}$/.test(hex)) throw new TypeError(`not a hardware address: ${text}`);
  return Buffer.from(hex, 'hex');
}

/** Bytes [off, off + len) as a hardware address in text, lower-case hex with colons. */
export function hwAddrText(b: Uint8Array, off = 0, len = b.length - off): string {
  return Array.from(b.subarray(off, off + len), (x) => x.toString(16).padStart(2, '0')).join(':');
}
