// Which of our recipients a bounce is about. Every message we send carries
// `X-Mailcamp-Campaign: <name>` and `X-Mailcamp-Recipient: <token>`, the token an opaque hash
// of the campaign and the recipient's key (compose/headers.ts recipientToken), so the
// address never travels in clear. When a report returns those headers, the campaign's
// journal says which address the token stands for: the address we mailed, which is the one
// to suppress even when the report names another (a forwarding alias, a rewritten address).
//
// Tokens are one-way, so the journal's keys are hashed once per campaign and kept in a map
// for the run. The campaign name comes from a received message: it is used only if it names
// a journal folder that exists in this state folder.

import fs from 'node:fs';
import { recipientToken } from '../compose/headers.js';
import { campaignStateDir } from '../state/folder.js';
import { journalExists, openJournal } from '../state/journal.js';

export class RecipientMatcher {
  private readonly maps = new Map<string, Map<string, string> | undefined>();

  constructor(private readonly stateDir: string) {}

  /** The single address the token stands for in that campaign's journal, if any. */
  addressFor(campaign: string | undefined, token: string | undefined): string | undefined {
    if (!campaign || !token) return undefined;
    if (!this.maps.has(campaign)) this.maps.set(campaign, this.load(campaign));
    return this.maps.get(campaign)?.get(token);
  }

  private load(campaign: string): Map<string, string> | undefined {
    let dir: string;
    try {
      dir = campaignStateDir(this.stateDir, campaign);
    } catch {
      return undefined;
    }
    if (!fs.existsSync(dir) || !journalExists(dir)) return undefined;
    const journal = openJournal(dir, { readonly: true });
    try {
      const map = new Map<string, string>();
      for (const e of journal.entries()) {
        // Group messages have one token for several addresses: no single address to name.
        if (/^[^\s,;@]+@[^\s,;@]+$/.test(e.email.trim())) map.set(recipientToken(campaign, e.key), e.email.trim().toLowerCase());
      }
      return map;
    } finally {
      journal.close();
    }
  }
}
