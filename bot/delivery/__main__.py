from bot.delivery.cli import main

main()
