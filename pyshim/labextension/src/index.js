/**
 * pyshim-cell-languages: in Scala notebooks, each code cell is highlighted in its own
 * language: `%%python` as Python, `%%sql` as Spark SQL, anything else as Scala.
 */
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker } from '@jupyterlab/notebook';
import { CellLanguages } from './cells';
import { PYTHON_MIME } from './magics';
import { SPARK_SQL_MIME, loadSparkSql } from './sparksql';

const SCALA_MIME = 'text/x-scala';

const plugin = {
  id: 'pyshim-cell-languages:plugin',
  description: 'Highlights %%python and %%sql cells of Scala notebooks in their own language.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  activate: async (app, tracker, languages) => {
    if (!languages.findByMIME(SPARK_SQL_MIME)) {
      languages.addLanguage({
        name: 'Spark SQL',
        displayName: 'Spark SQL',
        mime: SPARK_SQL_MIME,
        load: loadSparkSql
      });
    }
    // An editor applies each mimeType change when its language has loaded; with all three
    // loaded up front they apply in order, so a reset to Scala cannot land after our fix.
    await Promise.all([SCALA_MIME, PYTHON_MIME, SPARK_SQL_MIME].map(m => languages.getLanguage(m)));
    tracker.widgetAdded.connect((_, panel) => new CellLanguages(panel));
    tracker.forEach(panel => new CellLanguages(panel));
  }
};

export default plugin;
