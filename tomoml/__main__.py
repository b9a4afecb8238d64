import sys

from tomoml.cli import main

sys.exit(main())
