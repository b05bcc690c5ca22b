// Escaping for text placed into the status pages' HTML and SVG: a DHCP client chooses its own
// host name (the CPE's page), a SOCKS5 client its destination (the HAG's), so nothing from outside
// reaches a page unescaped.
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
