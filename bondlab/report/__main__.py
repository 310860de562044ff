from bondlab.report import main

raise SystemExit(main())
