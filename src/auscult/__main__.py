"""python -m auscult: the auscult command (auscult.cli)."""

from auscult.cli import main

raise SystemExit(main())
