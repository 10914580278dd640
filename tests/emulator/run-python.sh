#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# run-python.sh SCRIPT [ARGS...]: how `make check` runs the .py tests.
# Uses python3 from PATH (override with EMU_PYTHON); SKIP (77) when there is none.
PYTHON=${EMU_PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "SKIP: $PYTHON not found in PATH"
	exit 77
fi
exec "$PYTHON" "$@"
