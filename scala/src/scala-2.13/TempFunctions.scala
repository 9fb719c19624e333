package pyshim

import org.apache.spark.sql.catalyst.FunctionIdentifier

/** Spark 4 keeps temporary functions in the `system.session` namespace, by their full name. */
object TempFunctions {
  def identifier(name: String): FunctionIdentifier = FunctionIdentifier(name, Some("session"), Some("system"))
}
