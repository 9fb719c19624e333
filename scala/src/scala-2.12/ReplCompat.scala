package pyshim.repl

import java.io.PrintWriter

import scala.tools.nsc.Settings
import scala.tools.nsc.interpreter.{IMain, PresentationCompilerCompleter, Results}

/** Scala 2.12's REPL API (scala-2.13/ReplCompat.scala has the same object for 2.13). */
object ReplCompat {
  type Result = Results.Result

  /** Class-based wrappers (closures and case classes serialize to executors); classes in `outDir`. */
  def interpreter(outDir: String, out: PrintWriter): IMain = {
    val settings = new Settings()
    settings.processArgumentString(s"-Yrepl-class-based -Yrepl-outdir $outDir -usejavacp -nowarn")
    val intp = new IMain(settings, out)
    intp.initializeSynchronous()
    intp
  }

  def isSuccess(r: Result): Boolean = r == Results.Success
  def isIncomplete(r: Result): Boolean = r == Results.Incomplete

  def quietly[T](intp: IMain)(body: => T): T = intp.beQuietDuring(body)

  def addJar(intp: IMain, jar: java.io.File): Unit = intp.addUrlsToClassPath(jar.toURI.toURL)

  def mostRecentVar(intp: IMain): String = scala.util.Try(intp.mostRecentVar).getOrElse("")

  private var completer: PresentationCompilerCompleter = _

  def complete(intp: IMain, code: String, cursor: Int): (Int, Seq[String]) = {
    if (completer == null) completer = new PresentationCompilerCompleter(intp)
    val result = completer.complete(code, cursor)
    (result.cursor, result.candidates.distinct)
  }

  /**
   * The presentation compiler's view of `code` (TypeAt). IMain.presentationCompile is
   * `private[scala]` in 2.12 (public in the bytecode); it makes a compiler of its own per call.
   */
  def presentationCompile(intp: IMain, code: String, cursor: Int): Option[AnyRef] =
    scala.util.Try(classOf[IMain].getMethod("presentationCompile", classOf[String]).invoke(intp, code)).toOption.collect {
      case Right(result: AnyRef) => result
    }

  def isComplete(intp: IMain, code: String): String =
    quietly(intp)(intp.parse(code)) match {
      case intp.parse.Incomplete(_) => "incomplete"
      case intp.parse.Error(_) => "invalid"
      case _ => "complete"
    }
}
