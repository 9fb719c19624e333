/**
 * Keeps every code cell of one notebook panel in the language of its cell magic.
 *
 * JupyterLab sets each code cell's `model.mimeType` to the notebook's language when a cell is
 * inserted (typed, pasted, loaded) and again when the kernel's language_info changes (kernel
 * start, restart, change). The cell's editor follows `mimeType`. So this watches the cell list,
 * each cell's source and each cell's mimeType, and puts the magic's mime type back whenever
 * it differs: a reset by JupyterLab is undone in the same signal emission.
 */
import { Signal } from '@lumino/signaling';
import { mimeFor } from './magics';

export class CellLanguages {
  constructor(panel) {
    this._notebook = panel.content;
    this._model = panel.context.model;
    this._watched = new WeakSet();
    this._model.cells.changed.connect(this._onCellsChanged, this);
    this._model.metadataChanged.connect(this._applyAll, this);
    panel.sessionContext.kernelChanged.connect(this._applyAll, this);
    panel.disposed.connect(() => Signal.disconnectReceiver(this));
    this._applyAll();
  }

  /** Scala notebooks only: language_info (what JupyterLab's own mime follows), else kernelspec. */
  _isScala() {
    const info = this._model.getMetadata('language_info');
    const spec = this._model.getMetadata('kernelspec');
    const language = (info && info.name) || (spec && spec.language) || '';
    return String(language).toLowerCase() === 'scala';
  }

  _onCellsChanged(_, change) {
    for (const cell of change.newValues || []) {
      this._apply(cell);
    }
  }

  _applyAll() {
    const cells = this._model.cells;
    for (let i = 0; i < cells.length; i++) {
      this._apply(cells.get(i));
    }
  }

  _apply(cell) {
    if (cell.type !== 'code') {
      return;
    }
    if (!this._watched.has(cell)) {
      this._watched.add(cell);
      cell.mimeTypeChanged.connect(this._onCellChanged, this);
      cell.contentChanged.connect(this._onCellChanged, this);
    }
    if (!this._isScala()) {
      return;
    }
    const mime = mimeFor(cell.sharedModel.getSource(), this._notebook.codeMimetype);
    if (cell.mimeType !== mime) {
      cell.mimeType = mime;
    }
  }

  _onCellChanged(cell) {
    if (!cell.isDisposed) {
      this._apply(cell);
    }
  }
}
