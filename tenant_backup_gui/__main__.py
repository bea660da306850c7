from tenant_backup_gui.cli import main

raise SystemExit(main())
