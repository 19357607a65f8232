import sys

from pymosn.server.cli import main

sys.exit(main())
