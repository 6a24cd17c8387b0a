from kaitoctl.cli.app import main

main()
