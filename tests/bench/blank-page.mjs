// The floor of tests/bench/startup.mjs: a page whose one module script does no work but the
// performance mark `blank-ready`. Every page pays what this one takes (the navigation, the
// document, one script), so the other pages' figures are read against it.
performance.mark('blank-ready');
document.body.dataset.state = 'signed-out';
