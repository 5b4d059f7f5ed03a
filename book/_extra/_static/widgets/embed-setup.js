// Loaded between require.js and embed-amd.js (nb_ipywidgets_js in _config.yml); book/build.py
// copies those two from npm next to this file.
(function () {
  // The modules embed-amd.js defines take the URL require.js gives them, by default under the
  // page's folder, as the place to fetch their icon fonts from: point them at this folder.
  var here = document.currentScript.src.replace(/\/[^/]*$/, "");
  require.config({
    paths: {
      "@jupyter-widgets": here, // @jupyter-widgets/controls -> <here>/controls.js
      "@jupyter-widgets/html-manager/dist": here, // .../dist/libembed-amd -> <here>/libembed-amd.js
    },
  });

  // The controls typeset their descriptions with MathJax 2's MathJax.Hub.Queue
  // (jupyter-widgets/ipywidgets#3829), which MathJax 3, the book's, lacks: each description
  // threw a TypeError. Lend them a Hub that asks MathJax 3, set up before the widgets render on
  // "load" (this listener comes first), after MathJax (a deferred script) replaced its config.
  window.addEventListener("load", function () {
    var mathjax = window.MathJax;
    if (mathjax && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          if (mathjax.startup && mathjax.startup.promise) {
            mathjax.startup.promise.then(function () {
              return mathjax.typesetPromise([job[2]]);
            });
          }
        },
      };
    }
  });
})();
