// Which of our recipients a bounce is about. Every message we send carries
// `X-Mailcamp-Campaign: <name>` and `X-Mailcamp-Recipient: <token>`, the token an opaque hash
// of the campaign and the recipient's key (compose/headers.ts recipientToken), so the
// address never travels in clear. When a report returns those headers, the campaign's
// journal says which address the token stands for: the address we mailed, which is the one
// to suppress even when the report names another (a forwarding alias, a rewritten address).
//
// Tokens are one-way (an HMAC under the state folder's secret, state/token-key.ts), so the
// journal's keys are hashed once per campaign and kept in a map for the run; so are the plain
// hashes that versions before the secret sent. The campaign name comes from a received message: it is used only if it names
// a journal folder that exists in this state folder.

import fs from 'node:fs';
import path from 'node:path';
import { recipientToken, unkeyedRecipientToken } from '../compose/headers.js';
import { OCCURRENCES_DIR } from '../schedule/occurrence.js';
import { campaignStateDir } from '../state/folder.js';
import { journalExists, openJournal } from '../state/journal.js';
import { existingTokenKey } from '../state/token-key.js';

/** Occurrences of a scheduled campaign whose journals are read (the newest ones). */
const RECENT_OCCURRENCES = 4;

export class RecipientMatcher {
  private readonly maps = new Map<string, Map<string, string> | undefined>();

  constructor(private readonly stateDir: string) {}

  /** The single address the token stands for in that campaign's journal, if any. */
  addressFor(campaign: string | undefined, token: string | undefined): string | undefined {
    if (!campaign || !token) return undefined;
    if (!this.maps.has(campaign)) this.maps.set(campaign, this.load(campaign));
    return this.maps.get(campaign)?.get(token);
  }

  /**
   * The single address one of these Message-IDs was sent to, from the journals of this state
   * folder (each campaign's, and its latest occurrences'): a reply's In-Reply-To and References.
   */
  addressForMessageId(ids: readonly string[]): string | undefined {
    const ours = ids.filter((id) => /^<[^<>\s]+@[^<>\s]+>$/.test(id)).slice(0, 20);
    if (!ours.length) return undefined;
    for (const dir of this.allJournals()) {
      const journal = openJournal(dir, { readonly: true });
      try {
        for (const id of ours) {
          const e = journal.byMessageId(id);
          if (e && /^[^\s,;@]+@[^\s,;@]+$/.test(e.email.trim())) return e.email.trim().toLowerCase();
        }
      } finally {
        journal.close();
      }
    }
    return undefined;
  }

  /** Every campaign's journal in the state folder, and its latest occurrences'. */
  private allJournals(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.stateDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
    return names.flatMap((name) => this.journalsOf(path.join(this.stateDir, name)));
  }

  private journalsOf(dir: string): string[] {
    const journals = journalExists(dir) ? [dir] : [];
    const occ = path.join(dir, OCCURRENCES_DIR);
    try {
      const stamps = fs.readdirSync(occ).filter((s) => journalExists(path.join(occ, s))).sort().slice(-RECENT_OCCURRENCES);
      for (const stamp of stamps) journals.push(path.join(occ, stamp));
    } catch {
      // no occurrences
    }
    return journals;
  }

  private load(campaign: string): Map<string, string> | undefined {
    let dir: string;
    try {
      dir = campaignStateDir(this.stateDir, campaign);
    } catch {
      return undefined;
    }
    if (!fs.existsSync(dir)) return undefined;
    // The campaign's own journal, and those of its latest scheduled occurrences (bounces come
    // soon after a send; the token is the same in each: it depends on campaign and recipient).
    const journals = this.journalsOf(dir);
    if (!journals.length) return undefined;
    const map = new Map<string, string>();
    const secret = existingTokenKey(this.stateDir);
    for (const d of journals) {
      const journal = openJournal(d, { readonly: true });
      try {
        for (const e of journal.entries()) {
          // Group messages have one token for several addresses: no single address to name.
          if (!/^[^\s,;@]+@[^\s,;@]+$/.test(e.email.trim())) continue;
          const address = e.email.trim().toLowerCase();
          if (secret) map.set(recipientToken(secret, campaign, e.key), address);
          map.set(unkeyedRecipientToken(campaign, e.key), address);
        }
      } finally {
        journal.close();
      }
    }
    return map;
  }
}
