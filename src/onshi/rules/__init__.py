"""Pure rules over dates and money, each amount in a dated table.  Nothing here touches a database."""
