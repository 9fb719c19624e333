package org.apache.spark.pyshim

import scala.util.Try

import org.apache.spark.util.MavenUtils

// In Spark's package: its resolver is private[spark].
/** %AddDeps through Spark 4's own Ivy resolver (the one behind spark.jars.packages). */
object Dependencies {
  def resolve(coordinate: String, transitive: Boolean): Either[String, Seq[String]] = Try {
    implicit val log: java.io.PrintStream = Console.out
    val settings = MavenUtils.buildIvySettings(None, None)
    MavenUtils.resolveMavenCoordinates(coordinate, settings, transitive = transitive).toList
  }.toEither.left.map(e => Option(e.getMessage).getOrElse(e.getClass.getSimpleName).linesIterator.take(1).mkString)
}
