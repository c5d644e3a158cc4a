from rcml_cli.main import main

raise SystemExit(main())
