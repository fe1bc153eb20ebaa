// The list read ahead while the campaign compiles (issue 6). `send` waits ~0.1 s for the MJML
// child to compile the template before its validation pass can read the list; parsing the list's
// first rows meanwhile takes that wait off the pass (~0.1 s of a 10,000-row send).
//
// prefetchList() starts reading the CSV at once into a buffer of up to `limit` records; take()
// hands back a CsvReader that yields those records, then the rest of the file. What the reading
// reports (a malformed row, a warning) is held with the records and given to the caller's
// Diagnostics as the caller reaches them: to the caller it is as if the file were read then.

import { type ErrorPlace } from '../shared/errors.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { fileSignature } from '../shared/paths.js';
import { type CsvReader, readCsv } from './csv.js';
import type { CsvRecord, RecipientSource } from './types.js';

/** Records read ahead at most (a few MB for a list of ordinary width). */
const PREFETCH_LIMIT = 20_000;

interface Told {
  severity: 'error' | 'warning';
  message: string;
  place: ErrorPlace;
}

/** Diagnostics handed to `sink` as they come (for the reader read ahead). */
class ForwardedDiagnostics extends Diagnostics {
  constructor(private readonly sink: (d: Told) => void) {
    super();
  }

  override error(message: string, place: ErrorPlace = {}): void {
    super.error(message, place);
    this.sink({ severity: 'error', message, place });
  }

  override warning(message: string, place: ErrorPlace = {}): void {
    super.warning(message, place);
    this.sink({ severity: 'warning', message, place });
  }
}

function tell(diag: Diagnostics, d: Told): void {
  if (d.severity === 'error') diag.error(d.message, d.place);
  else diag.warning(d.message, d.place);
}

export interface PrefetchedList {
  /** The file's signature (shared/paths.ts, fileSignature) from before it was opened. */
  readonly signature: string | undefined;
  /** The reader, reporting to `diag` from its first use on. Once only. */
  take(diag: Diagnostics): CsvReader;
  /** Stops reading (the reader was never taken, say) and closes the file. */
  close(): void;
}

export function prefetchList(src: RecipientSource, limit = PREFETCH_LIMIT): PrefetchedList {
  const signature = fileSignature(src.file);
  // What was read ahead, in order: records, and what the reader said as it read them.
  const items: ({ rec: CsvRecord } | { told: Told })[] = [];
  let records = 0;
  // Once the caller has had every item: where the reader's diagnostics go straight.
  let live: Diagnostics | undefined;
  const reader = readCsv(src, new ForwardedDiagnostics((d) => (live ? tell(live, d) : items.push({ told: d }))));
  const it = reader.records[Symbol.asyncIterator]();
  let taken = false;
  let ended = false;
  let failure: unknown;
  const pumping = (async () => {
    try {
      while (!taken && records < limit) {
        const r = await it.next();
        if (r.done) return void (ended = true);
        items.push({ rec: r.value });
        records++;
      }
    } catch (e) {
      failure = e;
    }
  })();

  return {
    signature,
    take(diag) {
      if (taken) throw new Error('bug: the list read ahead is taken twice');
      taken = true;
      let pos = 0;
      // The diagnostics up to the next record (those of the header, at first).
      const toldUpTo = () => {
        for (let x = items[pos]; x && 'told' in x; x = items[++pos]) tell(diag, x.told);
      };
      return {
        get header() {
          return reader.header.then((h) => {
            toldUpTo();
            return h;
          });
        },
        get headerLine() {
          return reader.headerLine;
        },
        get garbled() {
          return reader.garbled;
        },
        records: {
          async *[Symbol.asyncIterator]() {
            await pumping;
            if (failure) throw failure;
            while (pos < items.length) {
              const x = items[pos++];
              if ('told' in x) tell(diag, x.told);
              else yield x.rec;
            }
            items.length = 0;
            live = diag;
            if (ended) return;
            for (;;) {
              const r = await it.next();
              if (r.done) return;
              yield r.value;
            }
          },
        },
        estimateRecords: () => reader.estimateRecords(),
        close: () => reader.close(),
      };
    },
    close() {
      taken = true;
      reader.close();
    },
  };
}
