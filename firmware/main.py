# Entry point on every board: start the garment application on this board's HAL.
from garmentfw.app import main

main()
