package pyshim.repl

import scala.tools.nsc.interactive.Global
import scala.tools.nsc.interpreter.IMain
import scala.util.Try
import scala.util.control.NonFatal

/**
 * Shift-Tab in a Scala cell, for both kernels (the Toree kernel's and pyshim's own): what the
 * REPL's presentation compiler (the one behind Tab) knows of the identifier at [start, end)
 * of `code`, typed with the session's definitions: the signatures of a method (all
 * overloads when no call picks one), else `name: Type`. None where it cannot tell (a syntax
 * error, a name it does not know). In pyshim's own kernel the caller holds CompilerLock.
 */
object TypeAt {
  def describe(intp: IMain, code: String, start: Int, end: Int): Option[String] =
    ReplCompat.presentationCompile(intp, code, end).flatMap { result =>
      try describe(result, start, end) catch {
        case NonFatal(_) => None
      } finally Try(result.getClass.getMethod("cleanup").invoke(result))
    }

  /** The result's `compiler` and `typedTreeAt` are public in the bytecode of both Scala versions; their types are path-dependent. */
  private def describe(result: AnyRef, start: Int, end: Int): Option[String] = {
    val compiler = result.getClass.getMethod("compiler").invoke(result).asInstanceOf[Global]
    import compiler._
    val tree = result.getClass.getMethod("typedTreeAt", classOf[Int], classOf[Int])
      .invoke(result, Int.box(start), Int.box(end)).asInstanceOf[Tree]
    exitingTyper {
      val sym = tree.symbol
      val known = sym != null && sym != NoSymbol && !sym.isError
      val owner = tree match {
        case Select(qualifier, _) if qualifier.tpe != null && !qualifier.tpe.isErroneous => Some(qualifier.tpe)
        case _ => None
      }
      def signature(s: Symbol): String = owner.fold(s.defString)(t => s.defStringSeenAs(t.memberType(s)))
      if (known && (sym.isMethod || sym.isOverloaded) && !sym.isGetter) Some(sym.alternatives.map(signature).distinct.mkString("\n"))
      else if (known) {
        val tpe = if (tree.tpe == null || tree.tpe == NoType) sym.info else tree.tpe // a definition: its symbol's type
        if (tpe == null || tpe == NoType || tpe.isErroneous) None else Some(s"${sym.decodedName}: ${tpe.widen}")
      } else None
    }
  }
}
