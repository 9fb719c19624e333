package org.apache.spark.pyshim

import scala.util.Try

import org.apache.spark.deploy.SparkSubmitUtils

// In Spark's package: its resolver is private[spark].
/** %AddDeps through Spark 3.5's own Ivy resolver (the one behind spark.jars.packages). */
object Dependencies {
  def resolve(coordinate: String, transitive: Boolean): Either[String, Seq[String]] = Try {
    val settings = SparkSubmitUtils.buildIvySettings(None, None)
    SparkSubmitUtils.resolveMavenCoordinates(coordinate, settings, transitive = transitive).toList
  }.toEither.left.map(e => Option(e.getMessage).getOrElse(e.getClass.getSimpleName).linesIterator.take(1).mkString)
}
