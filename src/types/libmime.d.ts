// libmime (the MIME encoder/decoder mailparser is built on) ships no types; only what we use.
declare module 'libmime' {
  /** Decodes RFC 2047 encoded words in a header value. */
  export function decodeWords(value: string): string;
  const libmime: { decodeWords(value: string): string };
  export default libmime;
}
