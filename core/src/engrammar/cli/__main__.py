import sys

from engrammar.cli import main

sys.exit(main())
