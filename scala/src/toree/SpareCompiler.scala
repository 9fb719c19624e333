package org.apache.toree.pyshim

import java.io.PrintWriter
import java.util.concurrent.{Executors, ThreadFactory}

import scala.tools.nsc.Settings
import scala.tools.nsc.interactive.Global
import scala.tools.nsc.interpreter.IMain
import scala.util.Try

/**
 * Toree's REPL (its newIMain makes a plain IMain), with Tab's compiler made ahead of time.
 * Scala 2.12 makes a new presentation compiler for every Tab and Shift-Tab
 * (IMain.presentationCompile), and making one costs most of a second: here the next one is
 * made on a background thread once a Tab has been used, again after each cell (a compiler
 * made before a cell does not see that cell's definitions) and after each Tab. A Tab that
 * finds no spare of the current generation makes one itself, as stock Toree does.
 */
final class SpareCompilerRepl(settings: Settings, out: PrintWriter) extends IMain(settings, out) {
  @volatile private var generation = 0L
  @volatile private var wanted = false // no background work for a notebook that never uses Tab
  private val lock = new Object
  private var spare: Option[(Long, Global)] = None // guarded by lock

  override def newPresentationCompiler(): Global = {
    wanted = true
    val ready = lock.synchronized { val s = spare; spare = None; s }
    val now = generation
    val compiler = ready.collect { case (made, c) if made == now => c }.getOrElse(fresh())
    prepare()
    compiler
  }

  /** A cell ran: its definitions are in the REPL now, which a spare made before does not know. */
  def cellEnded(): Unit = {
    lock.synchronized { generation += 1; spare = None }
    if (wanted) prepare()
  }

  private def fresh(): Global = super.newPresentationCompiler()

  private def prepare(): Unit = {
    val made = generation
    SpareCompilerRepl.builder.execute { () =>
      if (made == generation && lock.synchronized(spare.isEmpty)) {
        Try(fresh()).foreach { compiler =>
          SpareCompilerRepl.warm(compiler)
          lock.synchronized { if (made == generation && spare.isEmpty) spare = Some(made -> compiler) }
        }
      }
    }
  }
}

object SpareCompilerRepl {
  /** One low-priority thread: a spare is made while the user types, never ahead of a cell's work. */
  private val builder = Executors.newSingleThreadExecutor(new ThreadFactory {
    def newThread(r: Runnable): Thread = {
      val t = new Thread(r, "pyshim-spare-compiler")
      t.setDaemon(true)
      t.setPriority(Thread.MIN_PRIORITY)
      t
    }
  })

  /** The classes a notebook's Tab meets first, loaded into the spare's symbol table ahead of time. */
  private val Common = Seq("org.apache.spark.sql.SparkSession", "org.apache.spark.sql.Dataset",
    "org.apache.spark.SparkContext", "org.apache.spark.sql.functions", "org.apache.spark.sql.Column",
    "scala.collection.immutable.List", "java.lang.String")

  private def warm(compiler: Global): Unit = Try {
    import compiler._
    exitingTyper(Common.foreach { name =>
      val cls = rootMirror.getClassIfDefined(name)
      if (cls != NoSymbol) cls.info.members.foreach(_.info)
      val module = rootMirror.getModuleIfDefined(name)
      if (module != NoSymbol) module.moduleClass.info.members.foreach(_.info)
    })
  }
}
