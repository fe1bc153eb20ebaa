// Delivery state as the journal keeps it (design.md "What a run leaves behind").

export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'deferred' | 'unknown' | 'skipped';

export interface JournalEntry {
  /** Recipient key: lower-cased address, or `group:<value>` for group messages. */
  key: string;
  /** CSV line number (first member's, for a group). */
  row: number;
  /** The address(es) as sent; for a group, comma-joined. */
  email: string;
  status: DeliveryStatus;
  attempts: number;
  /** Last SMTP reply or error text (never holding secrets), or skip reason. */
  response?: string;
  messageId: string;
  /** Epoch ms: when a deferred entry may be tried again. */
  nextAttemptAt?: number;
  /** Epoch ms of the last change. */
  updatedAt: number;
  /** Group messages: envelope recipients an earlier attempt already reached or that were refused for good. */
  delivered?: string[];
  /** `sending` only: epoch ms at which the message's content started going out (absent: only its envelope had). */
  contentAt?: number;
}

export type RunState = 'running' | 'finished' | 'interrupted';

export interface RunInfo {
  runId: string;
  startedAt: number;
  finishedAt?: number;
  state: RunState;
  /** Transport URL with credentials removed. */
  transport: string;
  /** Why an interrupted run stopped (signal, fatal transport error, error budget). */
  reason?: string;
  /** The campaign file the run belongs to (its real path); absent in journals before version 5. */
  campaignFile?: string;
}

export type Totals = Record<DeliveryStatus, number> & { recipients: number };

/**
 * In a `sent` group message's response, the members refused for good follow this mark: the
 * dispatcher writes it, send's summary and exit code and `status` look for it.
 */
export const REFUSED_MARK = '; refused: ';
