package org.apache.toree.pyshim

import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter

import scala.tools.nsc.interpreter.IR

/**
 * Toree keeps its IMain `private[toree]`; %load must run a file in that same REPL (like
 * Toree's own %%sql magic does) and not through the task queue it is already running on.
 */
object ReplAccess {
  def interpret(interpreter: ScalaInterpreter, code: String): Boolean =
    interpreter.iMain.interpret(code) == IR.Success
}
