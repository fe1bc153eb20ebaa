// The values the recipients stage hands to the rest of the pipeline.

export interface RecipientSource {
  /** Absolute path of the CSV file. */
  file: string;
  /** Path as the user should see it in messages (relative to the cwd, usually). */
  displayFile: string;
  /** iconv-lite encoding name: utf-8 (default), gbk, gb18030, big5, shift_jis, latin1 ... */
  encoding: string;
  /** Field delimiter; default ','. */
  delimiter: string;
  /** Header name of the address column; default 'email'. */
  emailColumn: string;
  /** Header name of the display-name column; default 'name' when such a column exists. */
  nameColumn?: string;
  /** Largest record in bytes before it is an error (default 1 MiB). */
  maxRecordBytes?: number;
}

/** One CSV record, as read. */
export interface CsvRecord {
  /** The line number an editor shows for the line where this record starts (header = 1). */
  row: number;
  /** Column name (trimmed header) -> value, for every header column. */
  fields: Record<string, string>;
}

/** A recipient that passed the address checks. */
export interface Recipient extends CsvRecord {
  /** The address as it will be used in the envelope and To: (domain lowercased, IDN punycoded). */
  email: string;
  /** Display name, from the name column, trimmed; undefined when empty or absent. */
  name?: string;
  /** Lower-cased address: dedupe and suppression key. */
  key: string;
}
