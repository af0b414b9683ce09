from outreach_tui.cli import main

raise SystemExit(main())
