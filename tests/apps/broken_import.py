"""An app module whose import fails (APP=broken_import): wsginit must exit 3 with the traceback."""
raise ImportError("probe: broken_import cannot be imported on purpose")
