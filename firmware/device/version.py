# Replaced by `terang firmware build --version ...` in every bundle it writes.
VERSION = "0.1.0"
