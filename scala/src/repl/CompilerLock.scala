package pyshim.repl

import java.util.concurrent.locks.ReentrantLock

/**
 * The REPL's compiler serves one thread at a time: a cell while it compiles, and Tab,
 * Shift-Tab and is-complete, which pyshim's Scala kernel answers on a thread of their own
 * beside a running cell (the presentation compiler reads the REPL's definitions, which a
 * compile in progress changes). A cell does not hold it while its own code runs: the REPL
 * wraps each line's code in `userCode` (IMain's execution wrapper, `install`), which lets
 * go of the lock until that code ends. So a Tab waits for a cell's compile, never for its
 * code, however long that runs.
 */
object CompilerLock {
  private val lock = new ReentrantLock()

  /** Run `body` with the compiler; the code of a cell that `body` runs goes without it. */
  def holding[T](body: => T): T = {
    lock.lock()
    try body finally lock.unlock()
  }

  /** The REPL's execution wrapper: a line's code runs without the lock, taken back after it for the REPL's book-keeping. */
  def userCode[T](body: => T): T = {
    val held = lock.getHoldCount
    (1 to held).foreach(_ => lock.unlock())
    try body finally (1 to held).foreach(_ => lock.lock())
  }

  /** Make the REPL wrap each line's code in `userCode` (`_root_`: a cell may define its own `pyshim`). */
  def install(intp: scala.tools.nsc.interpreter.IMain): Unit =
    intp.setExecutionWrapper("_root_.pyshim.repl.CompilerLock.userCode")
}
