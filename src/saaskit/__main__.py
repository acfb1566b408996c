from saaskit.cli import main

main()
