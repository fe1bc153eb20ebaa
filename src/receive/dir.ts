// A local folder as a mailbox (`dir:PATH`): exported bounce mail processed the same way as a
// server's. Either a folder of `.eml` files, or a Maildir (`cur/` and `new/`, as Dovecot,
// Postfix and mutt write it). A Maildir message's flags follow `:2,` in its name and change
// when a client reads it, so the id is the name up to the colon, the part that stays.
// `after: move:FOLDER` moves files into FOLDER (relative to PATH; for a Maildir, the
// `cur/` of the Maildir++ folder `.FOLDER`).

import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { MailcampError } from '../shared/errors.js';
import type { Mailbox, MailboxMessage } from './mailbox.js';

export class DirMailbox implements Mailbox {
  readonly identity: string;
  readonly canMove = true;
  private readonly files = new Map<string, string>();
  private maildir = false;

  constructor(
    private readonly root: string,
    /** Where the mailbox file names this folder (`url:`), for the errors below. */
    private readonly place?: { file: string; line: number; col: number },
  ) {
    this.identity = `dir:${root}`;
  }

  async open(): Promise<void> {
    let st: fs.Stats;
    const where = this.place ?? { file: this.root };
    try {
      st = fs.statSync(this.root);
    } catch {
      throw new MailcampError('INPUT', `url: no such folder: ${this.root}`, where);
    }
    if (!st.isDirectory()) throw new MailcampError('INPUT', `url: dir: must name a folder: ${this.root}`, where);
    this.maildir = fs.existsSync(path.join(this.root, 'cur')) && fs.existsSync(path.join(this.root, 'new'));
  }

  async list(): Promise<MailboxMessage[]> {
    this.files.clear();
    const out: MailboxMessage[] = [];
    const add = (id: string, file: string) => {
      const st = fs.statSync(file);
      if (!st.isFile()) return;
      this.files.set(id, file);
      out.push({ id, source: path.basename(file), size: st.size, received: st.mtime });
    };
    if (this.maildir) {
      for (const sub of ['new', 'cur']) {
        for (const name of fs.readdirSync(path.join(this.root, sub)).sort()) {
          if (name.startsWith('.')) continue;
          add(name.split(':')[0], path.join(this.root, sub, name));
        }
      }
    } else {
      for (const name of fs.readdirSync(this.root).sort()) {
        if (/\.eml$/i.test(name)) add(name, path.join(this.root, name));
      }
    }
    return out;
  }

  async fetch(id: string): Promise<Readable> {
    return fs.createReadStream(this.fileOf(id));
  }

  async delete(ids: string[]): Promise<void> {
    for (const id of ids) fs.rmSync(this.fileOf(id), { force: true });
  }

  async move(ids: string[], folder: string): Promise<void> {
    const target = this.maildir ? path.join(this.root, `.${folder}`, 'cur') : path.resolve(this.root, folder);
    if (this.maildir) for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(this.root, `.${folder}`, d), { recursive: true });
    else fs.mkdirSync(target, { recursive: true });
    for (const id of ids) {
      const file = this.fileOf(id);
      fs.renameSync(file, path.join(target, path.basename(file)));
    }
  }

  async close(): Promise<void> {}

  private fileOf(id: string): string {
    const f = this.files.get(id);
    if (!f) throw new Error(`dir mailbox: unknown message id ${id}`);
    return f;
  }
}
