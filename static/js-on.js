// Loaded first and not deferred: the page's styles for "with a script" (the client list's
// bulk bar hidden until a row is ticked) apply before the first paint, so nothing flashes.
document.documentElement.classList.add("js");
