// The version, read from package.json once (cheap: no other module loads for --version).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
export const VERSION: string = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
