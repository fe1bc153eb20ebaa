// Relative `<img src>` in the template become inline `cid:` parts (design.md): resolved
// from the template file's folder, read once per campaign, and given a Content-ID that is
// stable (a hash of the content) so a golden message stays byte-identical.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Diagnostics, ValidationError } from '../shared/diagnostics.js';

export interface InlineImage {
  cid: string;
  path: string;
  filename: string;
  contentType: string;
  content: Buffer;
}

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.bmp': 'image/bmp',
};

export function contentTypeOf(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** The image type its first bytes say (or, for SVG, its start), whatever the file is called. */
function sniffImage(b: Buffer): string | undefined {
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (b.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
  if (/^(\ufeff)?\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(b.subarray(0, 4096).toString('utf8'))) return 'image/svg+xml';
  return undefined;
}

/** `<img … src="x">`, `src='x'`, or unquoted `src=x` (HTML5 allows it). */
const IMG_SRC = /(<img\b[^>]*?\bsrc\s*=\s*)(?:(["'])([^"']*)\2|([^\s"'=<>`]+))/gi;

const ABSOLUTE = /^([a-z][a-z0-9+.-]*:|\/\/|#)/i;

function isRelative(src: string): boolean {
  return !!src && !ABSOLUTE.test(src) && !src.startsWith('{{') && !src.includes('{{');
}

/** Line and column of the first `src=<src>` value in `text` (1-based), if it is there. */
function placeOf(text: string, src: string): { line?: number; col?: number } {
  const m = new RegExp(`\\bsrc\\s*=\\s*(["']?)${src.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\1`, 'i').exec(text);
  if (!m) return {};
  const at = m.index + m[0].indexOf(src);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, col: at - before.lastIndexOf('\n') };
}

/**
 * Rewrites relative image sources to `cid:` and returns the images to attach. Every image
 * that is missing, and every relative source that depends on recipient data (it would reach
 * the reader as a link to nowhere), is reported, all at once.
 */
export function inlineImages(
  html: string,
  baseDir: string,
  displayTemplate: string,
  domain: string,
  /** The template as written (MJML compiles to other lines): where a missing image is named. */
  source?: string,
): { html: string; images: InlineImage[]; backgrounds: string[] } {
  const images = new Map<string, InlineImage>();
  const problems = new Diagnostics();
  const out = html.replace(IMG_SRC, (whole, pre: string, quote: string | undefined, quoted: string | undefined, bare: string | undefined) => {
    const src = quoted ?? bare ?? '';
    const q = quote ?? '"';
    if (!isRelative(src)) {
      if (src.includes('{{') && !src.startsWith('{{') && !ABSOLUTE.test(src)) {
        problems.error(
          `image ${src}: a relative image whose path depends on recipient data cannot be inlined (it would be a broken link); use one file for everyone, or an absolute https:// URL`,
          { file: displayTemplate, ...placeOf(source ?? html, src) },
        );
      }
      return whole;
    }
    if (src.startsWith('/')) {
      // A web page's root-relative link: in a mail it points nowhere, and read as a file path it
      // would attach whatever the machine holds there.
      problems.error(`image ${src}: an absolute path; write it relative to the template, or as an https:// URL`, { file: displayTemplate, ...placeOf(source ?? html, src) });
      return whole;
    }
    const file = path.resolve(baseDir, decodeURI(src.split(/[?#]/)[0]));
    let img = images.get(file);
    if (!img) {
      let content: Buffer;
      try {
        content = fs.readFileSync(file);
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code === 'EACCES' ? 'cannot read image (permission denied)' : 'image not found';
        problems.error(`${why}: ${src} (looked in ${baseDir})`, { file: displayTemplate, ...placeOf(source ?? html, src) });
        return whole;
      }
      // Only images are inlined, told by their bytes (a name can lie, a symlink named x.png can
      // point at .env): `<img src="../.env">` would mail the file as a part.
      const contentType = sniffImage(content);
      if (!contentType) {
        problems.error(`image ${src} is not an image file (.png, .jpg, .gif, .webp, .svg, .bmp)`, { file: displayTemplate, ...placeOf(source ?? html, src) });
        return whole;
      }
      const hash = crypto.createHash('sha256').update(content).digest('hex').slice(0, 16);
      // Two files whose names clean up alike and whose bytes are the same still get a cid each (RFC 2392: unique).
      let cid = `${hash}.${path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_')}@${domain}`;
      for (let n = 2; [...images.values()].some((i) => i.cid === cid); n++) cid = `${hash}.${n}.${path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_')}@${domain}`;
      img = {
        cid,
        path: file,
        filename: path.basename(file),
        contentType,
        content,
      };
      images.set(file, img);
    }
    return `${pre}${q}cid:${img.cid}${q}`;
  });
  if (!problems.ok) throw new ValidationError(problems);
  return { html: out, images: [...images.values()], backgrounds: relativeBackgrounds(out) };
}

/**
 * Relative images that are not `<img src>`: `background="bg.png"` (what MJML's background-url
 * becomes) and CSS `url(bg.png)`. They are not inlined, and a mail client cannot load them.
 */
function relativeBackgrounds(html: string): string[] {
  const found = new Set<string>();
  for (const m of html.matchAll(/\bbackground\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+?)["']?\s*\)/gi)) {
    const src = (m[1] ?? m[2]).trim();
    if (isRelative(src) && !/^(cid|data):/i.test(src)) found.add(src);
  }
  return [...found];
}
