// Lab widgets: hydrates <div class="lab-embed" data-lab="..."> placeholders in lessons and on /lab/.
