//! The toys a new catalog starts with: the ten of the handout's example and ten from the
//! National Toy Hall of Fame. How many units each starts with (and is restocked to) is the
//! catalog's `stock` setting, 100 by default as the handout says.

/// Units every toy starts with, and is restocked to, unless configured otherwise.
pub const DEFAULT_STOCK: u32 = 100;

/// Name and price of every toy of a new catalog.
pub const TOYS: &[(&str, f64)] = &[
    ("Tux", 25.99),
    ("Whale", 34.99),
    ("Elephant", 29.99),
    ("Bird", 14.99),
    ("Risk", 39.99),
    ("Sand", 9.99),
    ("Jenga", 19.99),
    ("Uno", 9.49),
    ("Pinball", 89.99),
    ("Clue", 24.99),
    ("Barbie", 19.99),
    ("Crayola Crayons", 4.99),
    ("Etch A Sketch", 22.99),
    ("Frisbee", 12.99),
    ("Hula Hoop", 8.99),
    ("LEGO", 59.99),
    ("Monopoly", 29.99),
    ("Play-Doh", 7.99),
    ("Rubik's Cube", 11.99),
    ("Slinky", 5.99),
];
