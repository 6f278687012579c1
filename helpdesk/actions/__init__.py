"""Actions flows call by name, one module per feature. Nothing registers on import of this
package: helpdesk.registry.load() imports each module listed in helpdesk.registry.MODULES."""
