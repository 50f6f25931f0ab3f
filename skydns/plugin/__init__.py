"""Built-in plugins, one subpackage each: ``setup`` (the IPluginSetup) and the handler."""
