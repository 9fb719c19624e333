package pyshim

import org.apache.spark.sql.catalyst.FunctionIdentifier

/** Spark 3.5 keeps temporary functions by their bare name. */
object TempFunctions {
  def identifier(name: String): FunctionIdentifier = FunctionIdentifier(name)
}
