/**
 * Which language a cell of a Scala notebook is written in, from its first line.
 *
 * Toree's cell magics take the whole cell: `%%python` runs it in the sidecar's IPython,
 * `%%sql` in Spark SQL. Anything else is the notebook's own language.
 */
import { SPARK_SQL_MIME } from './sparksql';

// text/x-ipython, not text/x-python: %%python cells are IPython cells (magics, `?`).
export const PYTHON_MIME = 'text/x-ipython';

const MAGIC_MIMES = { python: PYTHON_MIME, sql: SPARK_SQL_MIME };

/** The cell magic's name on the first line, lower-cased (Toree ignores the case), or ''. */
export function cellMagic(source) {
  const end = source.indexOf('\n');
  const first = (end < 0 ? source : source.slice(0, end)).trim();
  const match = /^%%([A-Za-z]+)(\s|$)/.exec(first);
  return match ? match[1].toLowerCase() : '';
}

/** The mime type a cell with this source should be highlighted as. */
export function mimeFor(source, ownMime) {
  return MAGIC_MIMES[cellMagic(source)] || ownMime;
}
