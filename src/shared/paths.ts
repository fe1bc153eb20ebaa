// Whether a path.relative() result leaves the folder it was taken from. `..` and `../x` do;
// `..x.pdf`, a file whose name starts with two dots, does not.

import path from 'node:path';

export function leavesFolder(rel: string): boolean {
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
}
