from ferapp.cli import main

raise SystemExit(main())
