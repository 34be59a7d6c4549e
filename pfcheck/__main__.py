from pfcheck.cli import main

raise SystemExit(main())
