import sys

from server.supervisor import main

sys.exit(main())
